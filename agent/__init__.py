"""nodeward: hardening scanner for the Linux nodes under a Kubernetes cluster.

Nothing is imported here for side effects: `nodeward --help` must stay cheap.
"""

__version__ = "0.1.0"
