OK_FORMAT = True

test = {   'name': 'q4',
    'points': 8,
    'suites': [   {   'cases': [   {   'code': '>>> _m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 1)), nn.Conv1d(4, 4, 1))\n'
                                               '>>> assert [n for n, _ in find_conv2d(_m)] == [\'0\', \'1.1\'], f"expected the two Conv2d modules \'0\' and \'1.1\', got {[n for n, _ in '
                                               'find_conv2d(_m)]}"\n',
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> class _Toy(nn.Module):\n'
                                               '...     def __init__(self):\n'
                                               '...         super().__init__()\n'
                                               '...         self.embed = nn.Conv2d(4, 8, 2, stride=2)\n'
                                               '...         self.transformer_blocks = nn.ModuleList([nn.Linear(8, 8), nn.Sequential(nn.Conv2d(8, 8, 1))])\n'
                                               ">>> assert convs_in_blocks(_Toy()) == ['transformer_blocks.1.0'], f'got {convs_in_blocks(_Toy())}'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
