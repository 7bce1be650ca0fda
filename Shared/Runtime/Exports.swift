// Everything that runs a service also talks to other services as a client.
@_exported import LiaisonClient
