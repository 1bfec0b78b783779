"""Where trials run: in-process, local worker processes (--workers K) or MPI ranks, and the
worker context (rank, node-local index, host, GPU) tasks read."""
