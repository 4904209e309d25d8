//! cfship-cloudflare
