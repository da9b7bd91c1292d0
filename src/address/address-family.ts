// The two address families mfcd routes; everything family-specific is keyed by this.
export type AddressFamily = "ipv4" | "ipv6";
