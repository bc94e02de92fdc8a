"""The `jaxpose` command: OpenPose's flags for the main job, plus `convert` and `fetch-models`."""
