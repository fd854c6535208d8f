"""hybridfed: manage IDC, cloud, edge and serverless Kubernetes clusters as one cloud."""

__version__ = "0.1.0"
