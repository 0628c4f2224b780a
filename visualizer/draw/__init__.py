"""Drawing: the renderer (one figure, limits fixed from the whole run, blitting), the panels, the slow-motion
explain figure, text and image helpers. Reads histories; knows nothing of files or processes."""

MIN_SIZE = (160, 90)  # the smallest frame, in pixels, that holds a layout's titles and tick labels
STAGE_SECONDS = 3.0  # how long each stage of an explained step (--explain) lasts by default: time to talk
TITLE_SECONDS = 4.0  # how long the title card (--title-card) is shown by default: time to read it out
