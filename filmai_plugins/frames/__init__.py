"""Frames: sequence patterns, EXR/image readers and writers, metadata, atomic writes."""
from .image import Frame, FrameHeader, Window
from .io import (COMPRESSIONS, PIXEL_TYPES, WriteOptions, read_frame, read_header, read_provenance,
                 resolve_channels, write_frame)
from .sequence import SequencePattern, format_frames, parse_frames, same_file

__all__ = ["Frame", "FrameHeader", "Window", "COMPRESSIONS", "PIXEL_TYPES", "WriteOptions", "read_frame",
           "read_header", "read_provenance", "resolve_channels", "write_frame", "SequencePattern",
           "format_frames", "parse_frames", "same_file"]
