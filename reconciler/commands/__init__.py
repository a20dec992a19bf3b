"""The commands, one module each: ``validate``, ``plan``, ``apply``, ``export``, ``sandbox``.

Each has ``run(args, out) -> exit code``; ``common`` holds what several share (loading the
manifests, choosing accounts, the sandbox switch, asking for confirmation). ``cli`` imports a
command only when it runs, so ``validate`` never loads the HTTP stack.
"""
