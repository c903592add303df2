"""Media: histograms, images and texts logged per step (issue 20).

Pure helpers shared by the loggers, the writer, the readers and the importers, one
rule each: limits.py (what a histogram, image or text may be), packing.py (numpy
arrays as compact bytes for the store's binary columns), histograms.py (bucket edges,
and TensorBoard's percentile bands for the Distributions view), images.py (the image
codec: raw pixels to WebP/PNG and back, recognising encoded files). The bytes of
images sit behind one seam, trackboard.storage.db.blobs.BlobStore.
"""
