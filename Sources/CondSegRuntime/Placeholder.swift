// CondSegRuntime: module placeholder until its first real file lands (see the open issues).
