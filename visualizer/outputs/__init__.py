"""Outputs: writers (MP4 through ffmpeg, GIF, PNG frames, stills), the formats, the player and the render
transaction (an output folder published whole). Consumes pixel arrays and histories' bytes; imports nothing of
the engine, recording or drawing."""
