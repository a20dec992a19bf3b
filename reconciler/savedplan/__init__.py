"""Saved plans (SPEC §6): ``plan --out`` writes one, ``apply --plan`` checks it and carries it out.

Modules: ``planfile`` (write, load, and rebuild a plan from its file), ``plantrust`` (its seal,
MAC and age: why it may be applied), ``staleness`` (whether the live state it was made against
still holds), ``compare`` (what a new plan changes against an older one, ``plan --compare``).
"""
