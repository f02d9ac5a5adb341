"""Passes over a plan (plan.py).  For now one: dead-code elimination."""
from .plan import NumpyStep, Scratch, Step


def eliminate_dead_code(plan):
    """Drop the steps whose values reach no output and no effect; returns how many.

    Walking backward, a step is live if it produces a live value or writes a live
    scratch array (BatchNorm's statistics, read by the running-stat update).  Draws
    always stay (skipping one would shift every later number of the generator), and so
    do the buffer writes."""
    live = set(plan.outputs) | {g.slot for g in plan.data_guards}
    kept = []
    for e in reversed(plan.entries):
        if type(e) is Step:
            writes = {x for kind, x in e.args if kind == "v" and x in plan.scratch_slots}
            if not (live.intersection(e.outs) or live & writes):
                continue
        elif type(e) is Scratch and e.slot not in live:
            continue                       # a scratch array no live step writes
        elif type(e) is NumpyStep and e.out not in live:
            continue
        live.update(e.reads())
        kept.append(e)
    removed = sum(1 for e in plan.entries if type(e) in (Step, NumpyStep)) - \
        sum(1 for e in kept if type(e) in (Step, NumpyStep))
    plan.entries = kept[::-1]
    return removed
