"""Recording: the Recorder (a passive sink any loop logs into) and the History it builds, model adapters
(ours, a from-scratch loop's arrays, PyTorch), the probes panels declare and the evaluator that computes
them, the backward pass, loss landscapes. Knows nothing of drawing or files beyond the history's own."""
