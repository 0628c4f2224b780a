from visualizer import GradientPanel, Layout
layout = Layout([['g']], {'g': GradientPanel('hidden.weight', (5, 9))})
