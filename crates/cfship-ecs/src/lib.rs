//! cfship-ecs
