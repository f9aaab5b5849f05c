"""The studio's social queue: posts are files in a queue folder, picked up by the scheduler."""
