from genlab.data.image import ImageDataModule
from genlab.data.sources import SOURCES, SourceInfo

__all__ = ["ImageDataModule", "SOURCES", "SourceInfo"]
