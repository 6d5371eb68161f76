"""proxy.py plugin for backstop's proxy-pool tests: names this proxy to the upstream.

Every test proxy connects to the local BettingPros from 127.0.0.1, and proxy.py adds the same
`Via: 1.1 proxy.py v2.4.10` whichever instance forwards (it ignores a plugin's source address
when the upstream is an IP literal). So each instance adds `Forwarded: by=NAME`, NAME taken from
BACKSTOP_TEST_PROXY_NAME, and the simulator refuses or serves a proxy by that name, as
BettingPros refuses or serves an IP range.
"""

import os

from proxy.http.proxy import HttpProxyBasePlugin


class NameThisProxy(HttpProxyBasePlugin):
    def handle_client_request(self, request):
        name = os.environ["BACKSTOP_TEST_PROXY_NAME"].encode()
        request.add_header(b"Forwarded", b"by=" + name)
        return request
