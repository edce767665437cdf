// placeholder until this module's tests land
