"""Accounts' credentials: keys named in the manifests, or obtained at run time.

Modules: ``resolve`` (each account's keys from the environment or files, or through the chain;
every account's problem reported at once), ``chain`` (the default credential chain:
environment, CLI profiles, OIDC, ECS role), ``sts`` (temporary keys from Alibaba Cloud STS and
the ECS metadata service), ``answers`` (their HTTP exchanges, bounded like every provider
answer) and ``refresh`` (renewing temporary keys before they expire). Which reference to fix
when a provider refuses an account's keys is ``providers.blame``: every client error passes it.
"""
