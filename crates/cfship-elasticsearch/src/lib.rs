//! cfship-elasticsearch
