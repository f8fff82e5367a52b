from genlab.data.image import ImageDataModule
from genlab.data.sources import SOURCES, SourceInfo
from genlab.data.vectors import VectorDataModule

__all__ = ["ImageDataModule", "SOURCES", "SourceInfo", "VectorDataModule"]
