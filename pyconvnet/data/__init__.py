"""Datasets and a threaded DataLoader for training on data that does not sit in one array.

    from pyconvnet.data import DataLoader, ImageFolder
    ds = ImageFolder("photos/", size=(64, 64))        # photos/<class>/<files>
    loader = DataLoader(ds, batch_size=64, seed=0, augment=augment.RandomHorizontalFlip())
    model.fit(loader, epochs=10)
"""

from .dataset import ArrayDataset, Dataset
from .image_folder import ImageFolder
from .loader import DataLoader

__all__ = ["Dataset", "ArrayDataset", "ImageFolder", "DataLoader"]
