"""Fused grids: K points of a sweep that differ only in fusible values (seed, learning rates, betas, penalty weight,
clip value, EMA decay) trained in one process as one batched model, each point still its own run.

`hydra.launcher.fuse=N` groups the points of a sweep (groups.py) and runs each group as one job (jobs.py: Hydra's job
steps per point; train.py: each point planned, resumed and recorded as its own run). The model is gansweep's one
GANModule over K GANPoints: its networks are StackedNetworks (stacked.py: each point's own modules, one
torch.func.vmap(functional_call) over their stacked tensors, so spectral norm, clipping, batch norm and checkpoints
stay per point), the data is every point's own stream (data.py), and every callback of a point (evaluation,
samples, checkpoint, loggers) runs unchanged against views of that point (views.py, callbacks.py), so a fused point
leaves the files an unfused run leaves and its checkpoint resumes as an unfused run.

Why this route: torch.func is PyTorch's own way to batch K modules, and keeping each point's modules (rather than
HFTA-style fused layers with a point dim in every parameter) keeps every plug-in, the optimizer and the checkpoint
format per point with no fused re-implementation of them. The optimizer is stock torch.optim with one parameter
group per point (per-point lr and betas, per-point schedules); benchmarks/fusion_routes.py measured it at 1.63x over
sequential at K = 16 on 2 CPU cores, against 2.61x for one stacked parameter per layer with one Adam (which cannot
hold per-point hyperparameters without a custom optimizer): the gap is Adam's per-tensor overhead, the price of
staying on the stock optimizer. benchmarks/fusion.py measures the whole path.
"""
