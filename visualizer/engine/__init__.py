"""The engine: layers and activations (forward beside backward), losses, optimizers with PyTorch's update
rules, penalties, initial values, the toy data sets, compiled kernels and the training loop. Knows nothing of
recording, drawing or files."""
