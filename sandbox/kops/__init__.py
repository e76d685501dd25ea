"""The kops CLI twin: ``kops`` 1.36 commands against the twin's AWS and Kubernetes API.

``sandbox.kops.executable.install_executable`` puts it on a PATH. The package imports nothing
itself: the launcher of real kops runs for every ``kops`` command and loads only what it needs.
"""
