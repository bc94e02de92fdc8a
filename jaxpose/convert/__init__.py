"""Converters of original weights into jaxpose models (Caffe: `caffe`, shared strict merge: `remap`)."""
