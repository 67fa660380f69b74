"""Fused grids (issue 9): K points of a sweep that differ only in fusible values trained in one process as one
batched model, each point still its own run.

Built so far: stacked.StackedNetwork (each point's own modules, one vmapped call over their stacked tensors).
Still to build, in this order:
1. Per-point random streams: noise, GP interpolation epsilon and data order drawn from generators seeded by each
   point's seed (an unfused run uses the same streams, so fused point i equals unfused run i); saved in the
   checkpoint beside the global RNG states.
2. GANModule over K points: generator/critic = StackedNetwork of the points' networks, real batches [K, N, ...],
   losses and penalties [K] summed for the backward, one optimizer with a parameter group per point (per-point lr,
   betas; schedulers per group), EMA per point, divergence flagged per point (a diverged point's grads dropped, the
   point frozen and recorded at its iteration). K = 1 is today's run.
3. A stacked Adam with per-point hyperparameter tensors if measurement keeps favouring it (benchmarks/
   fusion_routes.py: stock Adam groups 1.63x at K=16 vs 2.61x for one stacked parameter, on 2 CPU cores).
4. Per-point callbacks and run folders: evaluation, samples, checkpoint (loadable as an unfused run), curves and
   W&B run per point, through a view of point i.
5. The launcher: `fuse=N` groups a batch's points by their non-fusible config (arch, dataset, loss, constraint
   types, batch size, n_critic, budget), one process per group, JobReturns and folders in the sweep's order.
6. benchmarks/fusion.py through gansweep itself (the toy grid fused vs unfused; DCGAN-32 on a GPU when lent).
"""
