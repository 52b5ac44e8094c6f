"""The gallery's order: the chapter's, not the alphabet's (sphinx-gallery's
``within_subsection_order`` takes such a key class by its qualified name)."""

import os

CHAPTER = ["corr2d_and_edges.py", "learn_kernel.py", "learn_kernel_torch.py",
           "padding_and_stride.py", "channels.py", "pooling.py", "vgg.py", "lenet.py",
           "lenet_digits.py"]


class ChapterOrder:
    """Sort key of an example file: its place in :data:`CHAPTER`, unknown files last."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = os.path.basename(filename)
        return (CHAPTER.index(name) if name in CHAPTER else len(CHAPTER), name)

    def __repr__(self) -> str:  # sphinx-gallery compares configurations by repr
        return "ChapterOrder"
