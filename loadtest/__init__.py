"""The load-test harness: how many people can this box serve?

``tsudoi-loadtest fanout --followers 5000 --rate 2 --duration 30`` starts a seeded Tsudoi node on
this machine (pinned to its own core when there are two or more), opens the followers'
connections from worker processes (the other cores), drives the load, and prints and writes a
JSON result: handshake rate, deliveries per second, latency from each post's ``ok`` to each
receipt, every post checked to arrive exactly once, errors by code, and the server's CPU time per
delivered frame — the figure that compares servers fairly even when the generator is the
bottleneck. See BENCHMARKS.md for the numbers and the commands that produced them.
"""
