"""The pbridge command line."""
