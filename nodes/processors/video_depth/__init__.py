"""Video Depth Anything (Small): a DINOv2 encoder and a DPT head whose temporal motion modules
stream, carrying their state from one chunk to the next."""
