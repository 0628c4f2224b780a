"""Running: options, scene loading, training a scene, rendering (a loop over the formats), comparing runs,
the process pipeline and executors. Uses every stage below; prints nothing (the CLI does)."""
