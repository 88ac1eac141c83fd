"""High-throughput screening with alearn models (to come; nothing is implemented yet).

This package will run one protocol (transport, redox, free energy) over many
candidate structures or compositions with the same production calculator and
gather the results in one table: a candidate whose run fails is recorded with
its status instead of stopping the screen, every run is resumable, and frames
where the committee's uncertainty leaves the trust window are flagged (and
can be handed back to an active-learning campaign) so that a ranking never
rests silently on extrapolated forces.
"""
