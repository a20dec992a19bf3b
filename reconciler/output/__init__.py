"""What the commands print: the plan and the apply report as text and JSON (``render``), the
plan as a pull-request comment (``markdown``), and the terminal itself (``console``: the
``Output`` streams, ANSI ``Style`` and the progress line)."""
