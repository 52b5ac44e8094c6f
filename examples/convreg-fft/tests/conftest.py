from hypothesis import settings

# The conformance suite builds its Hypothesis tests when they run, so this
# profile applies to them: derandomised, no per-example deadline.
settings.register_profile("convreg-fft", derandomize=True, max_examples=30, deadline=None)
settings.load_profile("convreg-fft")
