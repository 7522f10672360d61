"""SASL on the client port: the DIGEST-MD5 mechanism and the JAAS file it reads.

Java: ``javax.security.sasl`` (the JDK's DIGEST-MD5 server),
``org.apache.zookeeper.server.ZooKeeperSaslServer`` and the JAAS login
configuration (``-Djava.security.auth.login.config``). Kerberos (GSSAPI) is
left out on purpose: zkpy refuses a JAAS section that asks for it.
"""
