/** Which reverse proxy serves the site (its own module: the site model and the capacity plan both name it). */
export type ProxyKind = "nginx" | "apache";
