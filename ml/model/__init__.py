"""The network: base models (tiny preset, folders, hub ids), loading and saving, device and
precision, and how texts become padded batches. Shared by training and inference."""
