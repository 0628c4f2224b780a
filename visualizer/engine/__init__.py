"""The engine: layers and activations (forward beside backward, defined once for every stage), losses,
the objective (data loss plus penalties), optimizers with PyTorch's update rules, penalties, initial values,
the toy data sets, compiled kernels and the training loop. Knows nothing of recording, drawing or files."""
