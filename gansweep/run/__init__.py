"""The Hydra task: plan -> open -> fit -> settle -> write, for K >= 1 points (one path; a single run is the group of
one); what running again on a folder does (plan.py) and which points may fuse (fusion.py)."""
