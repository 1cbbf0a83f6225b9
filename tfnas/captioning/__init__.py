"""Image captioning for AutoCaption (arXiv 2012.09742): caption data, metrics (BLEU, CIDEr-D)."""
