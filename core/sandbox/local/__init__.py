"""The embedded sandbox: bubblewrap, Jupyter kernels and the one door into a session's folders."""
