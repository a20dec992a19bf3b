"""Guarded apply (SPEC §11): watch delivery after an apply and roll it back when it hurts.

The pieces, each in its own module, reached from the engine through a few marked hooks
(``# guard hook``):

- ``spec``: ``DeliveryCheck.spec.guard`` read from a manifest (with positions), and the guards
  a plan would run (``Guard``: what ``plan`` lists, a saved plan seals and ``apply`` watches);
- ``watch``: the watch loop: polls the per-message detail (``measure.count_since``) for the
  messages sent since the first write and judges each guard as ``check`` judges its check;
- ``rollback``: the inverse of what an apply did to one account, as a plan (the live state
  read before the writes against live state now, limited to the entries the apply touched),
  carried out by the ordinary apply engine;
- ``run``: what ``apply`` calls after its writes: watch, roll back, report, exit code.
"""
