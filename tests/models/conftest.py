from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "runtime"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
