"""The commands, one module each: ``validate``, ``plan``, ``apply``, ``export``, ``stats``,
``check``, ``show``, ``accounts``, ``completion``, ``sandbox``.

Each has ``run(args, out) -> exit code``, and declares its help and arguments beside it in
``args/<name>.py``: argparse only, so that building the parser loads none of the commands.
``common`` holds what several share (loading the manifests, choosing accounts, the sandbox
switch, asking for confirmation). ``cli`` imports a command only when it runs, so ``validate``
never loads the HTTP stack.
"""
