"""reconciler: e-mail delivery settings as code for Alibaba Cloud DirectMail and SendCloud."""

__version__ = "0.1.0"
