"""Accounts' credentials: keys named in the manifests, or obtained at run time.

Modules: ``resolve`` (each account's keys from the environment, or through the chain),
``chain`` (the default credential chain: environment, CLI profiles, OIDC, ECS role) and ``sts``
(temporary keys from Alibaba Cloud STS).
"""
