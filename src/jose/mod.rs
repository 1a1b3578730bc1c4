//! JOSE vocabulary (RFC 7515, 7517, 7638): the keys wsgate signs with and their JWK form.

pub mod signing_key;
